/**
 * A metric every instance of a role in one process adds to (several consumers of one group, say):
 * the registry's metric of that name if one is registered already, else a new one.
 */
export function sharedMetric<T, O extends { name: string }>(registry: { getSingleMetric(name: string): unknown }, Metric: new (options: O) => T, options: O): T {
  return (registry.getSingleMetric(options.name) as T | undefined) ?? new Metric(options);
}
