package rmon

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// engineState is the state file: the engine ID and boots survive restarts
// so managers keep their localized keys and the USM time window holds.
type engineState struct {
	EngineID string `json:"engine_id"`
	Boots    int64  `json:"boots"`
}

// newEngineID makes an RFC 3411 engine ID: enterprise 0 with the
// "octets" format (5) and 8 random bytes.
func newEngineID() []byte {
	id := []byte{0x80, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0}
	rand.Read(id[5:])
	return id
}

// loadEngine reads the state file, counts this boot and writes it back.
// override, if set, replaces the stored engine ID (and restarts boots
// when it differs, as a new engine).
func loadEngine(path string, override []byte) ([]byte, int64, error) {
	if path == "" {
		if override != nil {
			return override, 1, nil
		}
		return newEngineID(), 1, nil
	}
	var st engineState
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, 0, fmt.Errorf("rmon: state file: %w", err)
	default:
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, 0, fmt.Errorf("rmon: state file %s: %w", path, err)
		}
	}
	id, err := hex.DecodeString(st.EngineID)
	if err != nil || len(id) < 5 || len(id) > 32 {
		id, st.Boots = newEngineID(), 0
	}
	if override != nil && hex.EncodeToString(override) != hex.EncodeToString(id) {
		id, st.Boots = override, 0
	}
	st.EngineID = hex.EncodeToString(id)
	if st.Boots < 2147483647 {
		st.Boots++
	}
	out, _ := json.Marshal(st)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, 0, fmt.Errorf("rmon: state file: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return nil, 0, fmt.Errorf("rmon: state file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, 0, fmt.Errorf("rmon: state file: %w", err)
	}
	return id, st.Boots, nil
}
