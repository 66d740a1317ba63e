// Package report holds what the hostile corpus's escape program and its tests exchange: the
// target the test writes into the guest and the report the program leaves there.
package report

// TargetFile is the guest file the test writes: what to aim at.
const TargetFile = "/root/hostile-target.json"

// Target is what the test tells the program.
type Target struct {
	Tag   string `json:"tag"`   // prefix of the canary files of this test
	Loop  string `json:"loop"`  // the canary loop device, e.g. /dev/loop5
	Major uint32 `json:"major"` // its device numbers
	Minor uint32 `json:"minor"`
	Pid   int    `json:"pid"` // the victim host process
}

// Attempt is the outcome of one attempt: Errno 0 and OK true when it succeeded.
type Attempt struct {
	OK    bool   `json:"ok"`
	Errno int    `json:"errno"`
	Error string `json:"error,omitempty"`
}

// Report is /root/hostile-report-<name>.json.
type Report struct {
	Program  string             `json:"program"`
	Args     []string           `json:"args"`
	Pid      int                `json:"pid"`
	Uid      int                `json:"uid"`
	Attempts map[string]Attempt `json:"attempts"`
	// EnvKeys are the names (never the values) of the program's own environment.
	EnvKeys []string `json:"env_keys"`
	// EnvSources counts the environment entries read from each source.
	EnvSources map[string]int `json:"env_sources"`
	// Sentinels are the entries, from any source, holding the sentinel mark.
	Sentinels []string `json:"sentinels"`
	// Tool is what the stand-in for the real tool wrote.
	Tool string `json:"tool,omitempty"`
}
