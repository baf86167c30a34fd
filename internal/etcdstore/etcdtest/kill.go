package etcdtest

// Kill stops member i as a crash would, as far as a member in this
// process can crash: its raft loop stops at once, without the leadership
// transfer a graceful Stop makes (EtcdServer.Stop hands leadership to a
// peer first, so stopping a leader never costs an election), and then
// its listeners close so that clients see it gone. Its data stays for
// Restart. Killing a stopped member does nothing.
//
// Added by the fault tests (internal/faults), which need a leader to
// disappear without notice.
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	m := c.members[i]
	e := m.etcd
	m.etcd = nil
	c.mu.Unlock()
	if e != nil {
		e.Server.HardStop()
		e.Close()
	}
}
