// Command git measures mlsync's Git source side by side with the git CLI
// on a generated repository (5,000 commits, 2,000 files) served over
// smart HTTP on loopback, and prints a Markdown table of medians for
// BENCHMARKS.md:
//
//   - poll with nothing new (mlsync: Resolve; git: ls-remote)
//
//   - incremental fetch of 10 new commits (mlsync: Fetch with the disk
//     cache; git: fetch into a bare clone), time and peak RSS
//
//   - first shallow fetch (mlsync: in-memory depth-1 Fetch; git: clone
//     --depth 1 --bare), time and peak RSS
//
//   - status commit + push of 10 files (mlsync: Commit; git: a worktree
//     commit and push)
//
//     go run ./test/bench/git --runs 5
package main
