package gitsource

import (
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// diskStorage is a bare repository in dir, for Options.CacheDir.
func diskStorage(dir string) (storage.Storer, error) {
	return filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRUDefault()), nil
}
