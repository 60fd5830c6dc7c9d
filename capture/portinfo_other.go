//go:build !linux

package capture

type linkMonitor struct{ h any }

func (c *Core) startMonitor(string) error { return nil }
func (m *linkMonitor) stop()              {}
func (p *Port) refreshInfo()              {}
func (p *Port) refreshWith(any)           {}
func (p *Port) openCtl() error            { p.ctlfd = -1; return nil }
func (p *Port) closeCtl()                 {}
func (p *Port) linkCounters() (uint64, int, bool) {
	return 0, 0, false
}

func (p *Port) noteAttachError(err error) {
	p.c.log.Error("port engine did not start", "port", p.cfg.Name, "err", err)
}
