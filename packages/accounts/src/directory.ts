import type { AccountEvent, Retention } from "@ledger/events";
import { defaultOrg, type OrgConfig } from "./plan";
import type { KeyKind } from "./api-key";

export interface WorkspaceConfig {
  orgId: string;
  workspaceId: string;
  allTracesLimit: number | null;
  extendedTracesLimit: number | null;
  defaultRetention: Retention;
  configured: boolean;
}

export interface ProjectConfig {
  orgId: string;
  workspaceId: string;
  projectId: string;
  defaultRetention: Retention;
}

/** What the ledger knows of a key: never the key itself. */
export interface ApiKeyRecord {
  keyId: string;
  keyHash: string;
  orgId: string;
  workspaceId: string;
  kind: KeyKind;
  userId?: string;
  createdAt: string;
  revoked: boolean;
}

const sep = "\u0000"; // outside the id alphabet: composite keys cannot collide

/**
 * The accounts as of a log of account events (§7), folded in log order: each event replaces the
 * earlier configuration of its object whole. Pure: the ingest cache, the admin API and the
 * tests fold the same events the same way.
 */
export class AccountDirectory {
  private readonly orgs = new Map<string, OrgConfig>();
  private readonly workspaces = new Map<string, WorkspaceConfig>();
  private readonly projects = new Map<string, ProjectConfig>();
  private readonly keysById = new Map<string, ApiKeyRecord>();
  private readonly keysByHash = new Map<string, ApiKeyRecord>();
  private readonly revokedIds = new Set<string>();
  private readonly grants = new Map<string, { voided: boolean }>();

  static of(events: Iterable<AccountEvent>): AccountDirectory {
    const d = new AccountDirectory();
    for (const e of events) d.apply(e);
    return d;
  }

  apply(e: AccountEvent): void {
    switch (e.type) {
      case "org-configured":
        this.orgs.set(e.org_id, {
          orgId: e.org_id,
          plan: e.plan,
          paymentMethod: e.payment_method,
          ...(e.events_per_hour !== undefined ? { eventsPerHour: e.events_per_hour } : {}),
          ...(e.bytes_per_hour !== undefined ? { bytesPerHour: e.bytes_per_hour } : {}),
          configured: true,
          kind: e.kind ?? "shared",
          ...(e.created_at !== undefined ? { createdAtMs: Date.parse(e.created_at) } : {}),
        });
        return;
      case "workspace-configured":
        this.noteWorkspace(e.org_id, e.workspace_id);
        this.workspaces.set(e.org_id + sep + e.workspace_id, {
          orgId: e.org_id,
          workspaceId: e.workspace_id,
          allTracesLimit: e.all_traces_limit,
          extendedTracesLimit: e.extended_traces_limit,
          defaultRetention: e.default_retention,
          configured: true,
        });
        return;
      case "project-configured":
        this.projects.set(e.org_id + sep + e.workspace_id + sep + e.project_id, {
          orgId: e.org_id,
          workspaceId: e.workspace_id,
          projectId: e.project_id,
          defaultRetention: e.default_retention,
        });
        return;
      case "api-key-created": {
        this.noteWorkspace(e.org_id, e.workspace_id);
        const old = this.keysById.get(e.key_id);
        if (old) this.keysByHash.delete(old.keyHash);
        const record: ApiKeyRecord = {
          keyId: e.key_id,
          keyHash: e.key_hash,
          orgId: e.org_id,
          workspaceId: e.workspace_id,
          kind: e.kind,
          ...(e.user_id !== undefined ? { userId: e.user_id } : {}),
          createdAt: e.occurred_at,
          revoked: this.revokedIds.has(e.key_id),
        };
        this.keysById.set(e.key_id, record);
        this.keysByHash.set(e.key_hash, record);
        return;
      }
      case "api-key-revoked": {
        // A key id belongs to one organization: a revocation naming another org changes nothing.
        const record = this.keysById.get(e.key_id);
        if (record && record.orgId !== e.org_id) return;
        this.revokedIds.add(e.key_id);
        if (record) record.revoked = true;
        return;
      }
      // Invoices read credits from the ledger's store (§10.7); the directory only knows which
      // grants exist, so the admin API can refuse a repeated grant or a void of nothing.
      case "credit-granted":
        if (!this.grants.has(e.org_id + sep + e.grant_id)) this.grants.set(e.org_id + sep + e.grant_id, { voided: false });
        if (e.reason === "early-user" && !this.earlyUser.has(e.org_id)) this.earlyUser.set(e.org_id, e.grant_id);
        return;
      case "credit-voided": {
        const grant = this.grants.get(e.org_id + sep + e.grant_id);
        if (grant) grant.voided = true;
        return;
      }
    }
  }

  org(orgId: string): OrgConfig {
    return this.orgs.get(orgId) ?? defaultOrg(orgId);
  }

  private readonly firstWorkspace = new Map<string, string>();
  private readonly earlyUser = new Map<string, string>();

  /** LG2: the grant by which the organization claimed the early users' credit, if it has. */
  earlyUserGrant(orgId: string): string | undefined {
    return this.earlyUser.get(orgId);
  }
  private noteWorkspace(orgId: string, workspaceId: string): void {
    if (!this.firstWorkspace.has(orgId)) this.firstWorkspace.set(orgId, workspaceId);
  }

  /** The first workspace an organization got (configured or keyed), in log order: a personal organization's only one (G2). */
  workspaceOf(orgId: string): string | undefined {
    return this.firstWorkspace.get(orgId);
  }

  workspace(orgId: string, workspaceId: string): WorkspaceConfig {
    return (
      this.workspaces.get(orgId + sep + workspaceId) ?? {
        orgId,
        workspaceId,
        allTracesLimit: null,
        extendedTracesLimit: null,
        defaultRetention: "base",
        configured: false,
      }
    );
  }

  /** L1: the project's default retention, else the workspace's, else base. */
  retentionFor(orgId: string, workspaceId: string, projectId: string): Retention {
    return this.retentionOf(orgId, workspaceId, projectId).retention;
  }

  /** L1 with where it came from: the project's default, the workspace's (a configured one), or neither (base). */
  retentionOf(orgId: string, workspaceId: string, projectId: string): { retention: Retention; from: "project" | "workspace" | null } {
    const project = this.projects.get(orgId + sep + workspaceId + sep + projectId)?.defaultRetention;
    if (project !== undefined) return { retention: project, from: "project" };
    const ws = this.workspace(orgId, workspaceId);
    return { retention: ws.defaultRetention, from: ws.configured ? "workspace" : null };
  }

  /** A credit grant of the organization, if one was granted (§10.7). */
  creditGrant(orgId: string, grantId: string): { voided: boolean } | undefined {
    return this.grants.get(orgId + sep + grantId);
  }

  keyByHash(hash: string): ApiKeyRecord | undefined {
    return this.keysByHash.get(hash);
  }

  keyById(keyId: string): ApiKeyRecord | undefined {
    return this.keysById.get(keyId);
  }

  keys(orgId?: string): ApiKeyRecord[] {
    return [...this.keysById.values()]
      .filter((k) => orgId === undefined || k.orgId === orgId)
      .sort((a, b) => (a.orgId + sep + a.createdAt + sep + a.keyId < b.orgId + sep + b.createdAt + sep + b.keyId ? -1 : 1));
  }

  workspacesOf(orgId: string): WorkspaceConfig[] {
    return [...this.workspaces.values()].filter((w) => w.orgId === orgId);
  }
}
