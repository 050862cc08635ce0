// Package gitsource reads spec revisions from a Git remote and writes
// mlsync's reports back to it, without a working tree.
//
// A Remote answers three questions cheaply and in this order: what commit
// does the watched ref point at now (Head, one ref advertisement and no
// objects), what files does that commit hold (Checkout, a shallow fetch
// into memory), and how to record a set of files on a branch (Commit, a
// commit built straight from blobs and trees, pushed with retries that
// rebase onto a concurrent writer's commits instead of overwriting them).
//
//	r, err := gitsource.NewRemote(gitsource.Options{URL: url})
//	head, err := r.Head(ctx, "main")
//	snap, err := r.Checkout(ctx, "main", head)
//	files, err := snap.Files("specs", nil)
//	res, err := r.Commit(ctx, gitsource.CommitRequest{Branch: "mlsync/status", Files: files, Message: msg})
//
// gitsource is the only package of mlsync that imports go-git. It returns
// data and typed errors and never logs.
package gitsource
