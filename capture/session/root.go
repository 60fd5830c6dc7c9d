package session

import (
	"fmt"
	"path/filepath"
	"strings"
)

// InRoot resolves a path the API was given against the capture root
// (capture.root): with no root it must be absolute; with one, a relative
// path is taken inside the root and an absolute one must lie inside it.
// It returns the clean path and, with a root, the path relative to it;
// what names the path in errors ("file", "output directory"). This only
// reads the text: open beneath the root (os.Root) so a symlink cannot
// lead out.
func InRoot(root, path, what string) (clean, rel string, err error) {
	if root == "" {
		if !filepath.IsAbs(path) {
			return "", "", fmt.Errorf("%s %q must be an absolute path on the appliance", what, path)
		}
		return filepath.Clean(path), "", nil
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(root, path)
	}
	path = filepath.Clean(path)
	rel, err = filepath.Rel(root, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", "", fmt.Errorf("%s %q is outside the capture root %s (the capture.root key)", what, path, root)
	}
	return path, rel, nil
}
