// Package registry is mlsync's model registry, kept as files on the
// status branch: registry/<model>.json lists every version a successful
// training run produced (run, metrics, spec revision, data, images,
// times, gate verdict) and remembers each succeeded step by key, so a
// later run reuses it instead of running it again.
//
//	reg, err := registry.Decode(data)      // registry/fraud.json
//	v := reg.Add(registry.Version{Run: id, Metrics: m, ...})
//	v.Gate = registry.Evaluate(model.Evaluation, v.Metrics, reg.Champion(model))
//	data, err := reg.Encode()
package registry
