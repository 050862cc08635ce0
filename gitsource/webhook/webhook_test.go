package webhook_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mlsync/mlsync/gitsource/webhook"
)

var secret = []byte("hook-secret")

const pushMain = `{"ref":"refs/heads/main","before":"0000","after":"1f2e3d4c5b6a79880000000000000000deadbeef","repository":{"full_name":"ml/specs"}}`

func deliver(t *testing.T, h http.Handler, header map[string]string, body string) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/hooks/git", strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func TestHandler(t *testing.T) {
	var pushes atomic.Int32
	var last webhook.Event
	h := &webhook.Handler{Secret: secret, Ref: "refs/heads/main", MaxBody: 4096,
		OnPush: func(ev webhook.Event) { pushes.Add(1); last = ev }}
	sig := webhook.Sign([]byte(pushMain), secret)
	tests := []struct {
		name      string
		header    map[string]string
		body      string
		wantCode  int
		wantPushs int32
	}{
		{"github push", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sig}, pushMain, 200, 1},
		{"gitea push", map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": sig}, pushMain, 200, 1},
		{"gitlab push", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": string(secret)}, pushMain, 200, 1},
		{"github bad signature", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + strings.Repeat("0", 64)}, pushMain, 401, 0},
		{"github missing signature", map[string]string{"X-GitHub-Event": "push"}, pushMain, 401, 0},
		{"github signature without prefix", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sig}, pushMain, 401, 0},
		{"gitea signature over another body", map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": sig}, strings.Replace(pushMain, "main", "evil", 1), 401, 0},
		{"gitlab wrong token", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "nope"}, pushMain, 401, 0},
		{"github ping", map[string]string{"X-GitHub-Event": "ping", "X-Hub-Signature-256": "sha256=" + webhook.Sign([]byte(`{"zen":"x"}`), secret)}, `{"zen":"x"}`, 202, 0},
		{"push to another branch", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + webhook.Sign([]byte(strings.Replace(pushMain, "heads/main", "heads/dev", 1)), secret)},
			strings.Replace(pushMain, "heads/main", "heads/dev", 1), 202, 0},
		{"too large", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sig}, pushMain + strings.Repeat(" ", 5000), 413, 0},
		{"unknown host", map[string]string{"X-Bitbucket-Event": "push"}, pushMain, 400, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := pushes.Load()
			if code := deliver(t, h, tc.header, tc.body); code != tc.wantCode {
				t.Fatalf("status %d, want %d", code, tc.wantCode)
			}
			if got := pushes.Load() - before; got != tc.wantPushs {
				t.Errorf("OnPush called %d times, want %d", got, tc.wantPushs)
			}
		})
	}
	if last.Ref != "refs/heads/main" || last.After != "1f2e3d4c5b6a79880000000000000000deadbeef" {
		t.Errorf("last push event = %+v", last)
	}
	req := httptest.NewRequest(http.MethodGet, "/hooks/git", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d", rec.Code)
	}
}

func TestNoSecretRefusesEverything(t *testing.T) {
	h := &webhook.Handler{OnPush: func(webhook.Event) { t.Error("pushed without a secret") }}
	code := deliver(t, h, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + webhook.Sign([]byte(pushMain), nil)}, pushMain)
	if code != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", code)
	}
}

// FuzzVerify: any headers and body: no panic, and nothing verifies
// without the right signature.
func FuzzVerify(f *testing.F) {
	f.Add("push", "sha256="+webhook.Sign([]byte(pushMain), secret), []byte(pushMain), 0)
	f.Add("push", webhook.Sign([]byte(pushMain), secret), []byte(pushMain), 1)
	f.Add("Push Hook", string(secret), []byte(pushMain), 2)
	f.Add("push", "sha256=zz", []byte(`{"ref":5}`), 0)
	f.Fuzz(func(t *testing.T, event, signature string, body []byte, provider int) {
		header := http.Header{}
		switch provider % 3 {
		case 0:
			header.Set("X-GitHub-Event", event)
			header.Set("X-Hub-Signature-256", signature)
		case 1:
			header.Set("X-Gitea-Event", event)
			header.Set("X-Gitea-Signature", signature)
		case 2:
			header.Set("X-Gitlab-Event", event)
			header.Set("X-Gitlab-Token", signature)
		}
		ev, err := webhook.Verify(header, body, secret)
		if err != nil {
			return
		}
		// Verified: the signature must really be right.
		want := map[int]string{0: "sha256=" + webhook.Sign(body, secret), 1: webhook.Sign(body, secret), 2: string(secret)}[provider%3]
		if !bytes.Equal([]byte(strings.ToLower(signature)), []byte(want)) && signature != want {
			t.Fatalf("verified with signature %q, want %q", signature, want)
		}
		if ev.Push && !strings.HasPrefix(ev.Ref, "refs/") {
			t.Fatalf("push event without a ref: %+v", ev)
		}
	})
}
