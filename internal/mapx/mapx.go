package mapx

// Entry returns m[k], first storing a new zero V there when k has none
// (the get-or-create of a map of counters or per-key state). Callers
// hold whatever lock guards m.
func Entry[K comparable, V any](m map[K]*V, k K) *V {
	v := m[k]
	if v == nil {
		v = new(V)
		m[k] = v
	}
	return v
}
