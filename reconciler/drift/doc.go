// Package drift compares a served model's live feature distributions
// with the training baseline recorded for the version it serves, with
// the population stability index (PSI), the Kolmogorov-Smirnov statistic
// (KS) or the Jensen-Shannon distance (JS) per feature.
//
// Distributions are histograms over the same bucket edges: the baseline
// comes from the evaluation step's metrics, the live one from Prometheus
// (see the package's naming convention in Baseline and Query).
//
//	res := drift.Analyze(model.Monitoring.Drift, baseline, live)
//	res.Drifted // share of drifting features >= the spec's share
//
// It also judges a canary: the candidate version's request metrics over
// the rollout so far (CanaryQuery) against the model's SLOs (JudgeCanary).
package drift
