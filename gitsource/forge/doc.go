// Package forge opens and tracks pull requests on Git hosts: Gitea and
// Forgejo, GitHub and GitLab (merge requests), behind one interface. It
// speaks each host's published REST API with net/http; tokens come from
// files and never appear in errors.
//
//	f, err := forge.New(forge.Options{Kind: forge.Gitea, URL: "https://git.example.com", Repo: "ml/specs", TokenFile: path})
//	pr, err := f.Open(ctx, forge.Proposal{Head: branch, Base: "main", Title: t, Body: b})
package forge
