package mapx

import "testing"

func TestEntry(t *testing.T) {
	m := map[string]*int{}
	a := Entry(m, "a")
	if a == nil || *a != 0 || m["a"] != a {
		t.Fatalf("first Entry: %v, map %v", a, m)
	}
	*a = 7
	if b := Entry(m, "a"); b != a || *b != 7 {
		t.Errorf("second Entry made a new value: %v (want the stored %v)", b, a)
	}
	if c := Entry(m, "c"); c == a || len(m) != 2 {
		t.Errorf("Entry for another key: %v, map of %d", c, len(m))
	}
}
