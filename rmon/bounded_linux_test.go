package rmon

import (
	"fmt"
	"strings"
	"testing"
)

// TestTablesBounded sends a burst from 100 hosts to one through the core
// into a probe whose tables hold 8 hosts and 8 pairs, and reads with
// net-snmp what the RFCs say of full tables: the least recently used
// entries deleted to make room, the inserts and deletes counted (inserts
// - deletes = the entries there), hostCreationOrder contiguous, and a
// row's NlMaxDesiredEntries showing its most recently used entries.
func TestTablesBounded(t *testing.T) {
	tp := newTopo(t)
	svc := startService(t, Config{Listen: "127.0.0.1:0", MaxHosts: 8, MaxPairs: 8,
		Communities: []CommunityConfig{{Name: "mgr", Write: []string{"1.3.6.1.2.1.16"}}}}, tp.core)
	c := []string{"-v2c", "-c", "mgr", svc.Addr().String()}
	hc, mc := ".1.3.6.1.2.1.16.14.1.1", ".1.3.6.1.2.1.16.15.1.1"
	// Row 10 of each wants 3 address entries and 4 protocol entries.
	for _, ctl := range []string{hc, mc} {
		snmpRun(t, "snmpset", append(c, ctl+".12.10", "i", "4", ctl+".2.10", "o", ".1.3.6.1.2.1.2.2.1.1.1", ctl+".6.10", "i", "3", ctl+".10.10", "i", "4")...)
	}
	hub := mac(200)
	var frames [][]byte
	for i := 1; i <= 100; i++ {
		frames = append(frames, ipFrame(hub, mac(byte(i)), fmt.Sprintf("10.3.0.%d", i), "10.3.1.1", 6, 100))
	}
	sendRaw(t, tp.b, "peer0", frames)
	waitWalk(t, "snmpget", append(c, hc+".4.1"), hc+".4.1", "101") // every address inserted

	// RMON1: the hub (every frame's destination) and the last 7 senders.
	hosts := walk(t, "snmpbulkwalk", append(c, ".1.3.6.1.2.1.16.4.2.1.1")...)
	want := map[string]bool{".1.3.6.1.2.1.16.4.2.1.1.1" + macOID(hub): true}
	for i := 94; i <= 100; i++ {
		want[".1.3.6.1.2.1.16.4.2.1.1.1"+macOID(mac(byte(i)))] = true
	}
	if len(hosts) != 8 {
		t.Errorf("hostTable has %d entries, want 8: %v", len(hosts), hosts)
	}
	for k := range want {
		if _, ok := hosts[k]; !ok {
			t.Errorf("hostTable lacks %s: %v", k, hosts)
		}
	}
	// hostTimeTable: creation orders 1..8 (RFC 2819: no gaps).
	times := walk(t, "snmpwalk", append(c, ".1.3.6.1.2.1.16.4.3.1.2.1")...)
	for i := 1; i <= 8; i++ {
		if _, ok := times[fmt.Sprintf(".1.3.6.1.2.1.16.4.3.1.2.1.%d", i)]; !ok {
			t.Errorf("no hostTimeTable entry %d: %v", i, times)
		}
	}
	if len(times) != 8 {
		t.Errorf("hostTimeTable: %v", times)
	}
	ctl := walk(t, "snmpget", append(c, ".1.3.6.1.2.1.16.4.1.1.3.1", ".1.3.6.1.2.1.16.4.1.1.4.1", ".1.3.6.1.2.1.16.6.1.1.3.1", ".1.3.6.1.2.1.16.6.1.1.4.1")...)
	if ctl[".1.3.6.1.2.1.16.4.1.1.3.1"] != "8" || ctl[".1.3.6.1.2.1.16.6.1.1.3.1"] != "8" ||
		!strings.HasPrefix(ctl[".1.3.6.1.2.1.16.4.1.1.4.1"], "(") || strings.HasPrefix(ctl[".1.3.6.1.2.1.16.4.1.1.4.1"], "(0)") ||
		!strings.HasPrefix(ctl[".1.3.6.1.2.1.16.6.1.1.4.1"], "(") || strings.HasPrefix(ctl[".1.3.6.1.2.1.16.6.1.1.4.1"], "(0)") {
		t.Errorf("host/matrix control size and last delete time: %v", ctl)
	}
	// The matrix keeps the last 8 conversations.
	sd := walk(t, "snmpbulkwalk", append(c, ".1.3.6.1.2.1.16.6.2.1.4.1")...)
	if len(sd) != 8 || sd[".1.3.6.1.2.1.16.6.2.1.4.1"+macOID(mac(93))+macOID(hub)] != "1" {
		t.Errorf("matrixSDTable: %v", sd)
	}

	// RMON2: row 1 (no limit) and row 10 (3 addresses, 4 protocols).
	// 101 addresses, 93 deleted; each with ip and tcp.
	g := walk(t, "snmpget", append(c, hc+".3.1", hc+".4.1", hc+".5.1", hc+".8.1", hc+".9.1", hc+".4.10", hc+".5.10", hc+".8.10", hc+".9.10",
		mc+".4.1", mc+".5.1", mc+".8.1", mc+".9.1", mc+".4.10", mc+".5.10", mc+".8.10", mc+".9.10",
		".1.3.6.1.2.1.16.13.1.0", ".1.3.6.1.2.1.16.13.2.0")...)
	for oid, w := range map[string]string{
		hc + ".3.1": "0", hc + ".4.1": "101", hc + ".5.1": "93", hc + ".8.1": "202", hc + ".9.1": "186",
		hc + ".4.10": "101", hc + ".5.10": "98", hc + ".8.10": "202", hc + ".9.10": "198",
		// A conversation is an entry of both matrix tables: counted twice.
		mc + ".4.1": "200", mc + ".5.1": "184", mc + ".8.1": "400", mc + ".9.1": "368",
		mc + ".4.10": "200", mc + ".5.10": "194", mc + ".8.10": "400", mc + ".9.10": "392",
		// addressMap: the 7 senders left are mapped; 93 went.
		".1.3.6.1.2.1.16.13.1.0": "100", ".1.3.6.1.2.1.16.13.2.0": "93",
	} {
		if g[oid] != w {
			t.Errorf("%s = %q, want %s", oid, g[oid], w)
		}
	}
	nl := ".1.3.6.1.2.1.16.14.2.1"
	m := walk(t, "snmpbulkwalk", append(c, nl+".4")...)
	rows := map[string]int{}
	for k := range m {
		rows[strings.Split(strings.TrimPrefix(k, nl+".4."), ".")[0]]++
	}
	if rows["1"] != 8 || rows["10"] != 3 {
		t.Errorf("nlHostTable rows by control row: %v", rows)
	}
	// Row 10 shows the most recently used: the hub, 10.3.0.100 and .99.
	for _, a := range []string{".4.10.3.1.1", ".4.10.3.0.100", ".4.10.3.0.99"} {
		if _, ok := m[nl+".4.10.0.2"+a]; !ok {
			t.Errorf("row 10's nlHostTable lacks %s: %v", a, m)
		}
	}
	al := walk(t, "snmpbulkwalk", append(c, ".1.3.6.1.2.1.16.16.1.1.2.10")...)
	if len(al) != 4 {
		t.Errorf("alHostTable of row 10 has %d entries, want 4: %v", len(al), al)
	}
	am := walk(t, "snmpbulkwalk", append(c, ".1.3.6.1.2.1.16.13.5.1.4")...)
	if len(am) != 7 {
		t.Errorf("addressMapTable has %d entries, want 7: %v", len(am), am)
	}

	// A deleted host that comes back starts from nothing.
	sendRaw(t, tp.b, "peer0", [][]byte{ipFrame(hub, mac(1), "10.3.0.1", "10.3.1.1", 6, 100)})
	waitWalk(t, "snmpget", append(c, hc+".4.1"), hc+".4.1", "102")
	m = walk(t, "snmpget", append(c, nl+".4.1.0.2.4.10.3.0.1", ".1.3.6.1.2.1.16.4.2.1.5.1"+macOID(mac(1)))...)
	if m[nl+".4.1.0.2.4.10.3.0.1"] != "1" || m[".1.3.6.1.2.1.16.4.2.1.5.1"+macOID(mac(1))] != "1" {
		t.Errorf("host 1 back: %v", m)
	}

	// nlMatrixTopN and hostTopN over a collection in which 10.3.0.100
	// -> hub and host 100 are deleted (20 new conversations and hosts)
	// and made again with 5 frames: their rates are those 5, not 5 less
	// what the old entries had counted.
	n, hn := ".1.3.6.1.2.1.16.15.4.1", ".1.3.6.1.2.1.16.5.1.1"
	snmpRun(t, "snmpset", append(c, n+".11.3", "i", "5", n+".2.3", "i", "1", n+".7.3", "i", "2", n+".10.3", "s", "tester")...)
	snmpRun(t, "snmpset", append(c, hn+".10.3", "i", "2", hn+".2.3", "i", "1", hn+".3.3", "i", "2", hn+".6.3", "i", "2", hn+".9.3", "s", "tester")...)
	frames = nil
	for i := 1; i <= 20; i++ {
		frames = append(frames, ipFrame(hub, mac(byte(i)), fmt.Sprintf("10.3.0.%d", i), "10.3.1.1", 6, 100))
	}
	frames = append(frames, repeat(ipFrame(hub, mac(100), "10.3.0.100", "10.3.1.1", 6, 100), 5)...)
	hubIn := nl + ".3.1.0.2.4.10.3.1.1" // the hub stays: every frame uses it
	in := num(t, walk(t, "snmpget", append(c, hubIn)...), hubIn)
	for attempt := 0; ; attempt++ {
		if attempt == 5 {
			t.Fatal("no collection held all the frames in 5 attempts")
		}
		snmpRun(t, "snmpset", append(c, n+".4.3", "i", "4", n+".11.3", "i", "1", hn+".4.3", "i", "4", hn+".10.3", "i", "1")...)
		sendRaw(t, tp.b, "peer0", frames)
		in += uint64(len(frames))
		waitWalk(t, "snmpget", append(c, hubIn), hubIn, fmt.Sprint(in))
		if g := walk(t, "snmpget", append(c, n+".5.3", hn+".4.3")...); g[n+".5.3"] == "0" && g[hn+".4.3"] != "0" {
			break
		}
		snmpRun(t, "snmpset", append(c, n+".11.3", "i", "2")...) // notInService: the next activation starts over
	}
	waitWalk(t, "snmpget", append(c, n+".5.3"), n+".5.3", "1")
	waitWalk(t, "snmpget", append(c, hn+".4.3"), hn+".4.3", "0")
	hr := ".1.3.6.1.2.1.16.5.2.1"
	hrep := walk(t, "snmpwalk", append(c, hr)...)
	if hrep[hr+".4.3.1"] != "5" || !strings.Contains(strings.ReplaceAll(hrep[hr+".3.3.1"], " ", ""), "020000000064") || hrep[hr+".4.3.2"] != "1" {
		t.Errorf("hostTopN report: %v", hrep)
	}
	r := ".1.3.6.1.2.1.16.15.5.1"
	rep := walk(t, "snmpwalk", append(c, r)...)
	if rep[r+".5.3.1"] != "5" || !strings.Contains(strings.ReplaceAll(rep[r+".3.3.1"], " ", ""), "0A030064") || rep[r+".5.3.2"] != "1" {
		t.Errorf("nlMatrixTopN report: %v", rep)
	}
}
