package redistest

import "testing"

func TestStartSentinels(t *testing.T) {
	st := StartSentinels(t, "mymaster", 1)
	if got := st.MasterAddr(); got != st.Master.Addr {
		t.Fatalf("sentinels say the master is %q, want %s", got, st.Master.Addr)
	}
	if st.Replicas[0].Role() != "slave" {
		t.Fatal("replica is not a replica")
	}
}
