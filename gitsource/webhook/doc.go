// Package webhook receives push events from Git hosts and tells the
// daemon to reconcile at once instead of at the next poll.
//
// GitHub (X-Hub-Signature-256), Gitea and Forgejo (X-Gitea-Signature)
// and GitLab (X-Gitlab-Token) are recognised by their headers and
// verified against a shared secret. A valid push to the watched ref calls
// OnPush; bad signatures get 401, oversized bodies 413, other events and
// other refs 202 and nothing else. OnPush should coalesce calls (the
// reconciler's Trigger does).
//
//	h := &webhook.Handler{Secret: secret, Ref: "refs/heads/main", OnPush: rec.Trigger}
//	http.Handle("/hooks/git", h)
package webhook
