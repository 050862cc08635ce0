// Package corpus generates spec repositories of any size for mlsync's
// benchmarks: models shaped like examples/fraud-detection (training, a
// gate, two stages, serving with autoscaling, drift monitoring) and the
// pipelines that train them.
package corpus
