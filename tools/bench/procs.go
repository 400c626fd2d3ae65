package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Process groups in the CPU split.
const (
	GroupTemporal = "temporal"
	GroupOurs     = "sagaflow"
	GroupPostgres = "postgres"
	GroupRedis    = "redis"
	GroupBench    = "bench"
)

// Process is one process the bench watches.
type Process struct {
	Name  string
	Group string
	PID   int
}

// ProcessSummary is what one process used during a run.
type ProcessSummary struct {
	Name  string `json:"name"`
	Group string `json:"group"`
	// CPUCores is the CPU time used divided by the wall time (1.0 = one core busy).
	CPUCores float64 `json:"cpu_cores"`
	// PeakRSSMiB is the largest resident set seen while the run lasted (sampled).
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// HWMMiB is the kernel's high-water mark of the resident set since the process started.
	HWMMiB float64 `json:"hwm_rss_mib,omitempty"`
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat CPU times (100 on Linux).
const clockTicks = 100

// Sampler records the CPU time and resident memory of processes while a run lasts.
type Sampler struct {
	list  func() []Process
	every time.Duration

	mu    sync.Mutex
	start time.Time
	cpu0  map[int]int64
	peak  map[int]int64 // KiB
	procs map[int]Process
	done  chan struct{}
	wg    sync.WaitGroup
}

// NewSampler watches the processes list returns (asked again at every sample, so
// processes that come and go, like PostgreSQL backends, are counted).
func NewSampler(list func() []Process) *Sampler {
	return &Sampler{list: list, every: 250 * time.Millisecond}
}

// Start begins a measurement.
func (s *Sampler) Start() {
	s.mu.Lock()
	s.start = time.Now()
	s.cpu0, s.peak, s.procs = map[int]int64{}, map[int]int64{}, map[int]Process{}
	for _, p := range s.list() {
		s.procs[p.PID] = p
		s.cpu0[p.PID] = cpuTicks(p.PID, p.Group == GroupPostgres)
	}
	s.done = make(chan struct{})
	s.mu.Unlock()
	s.sample()
	s.wg.Go(func() {
		t := time.NewTicker(s.every)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				s.sample()
			}
		}
	})
}

func (s *Sampler) sample() {
	procs := s.list()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range procs {
		if _, ok := s.procs[p.PID]; !ok {
			s.procs[p.PID] = p
			s.cpu0[p.PID] = 0 // started during the run: all its CPU time is the run's
		}
		if rss, _ := memory(p.PID); rss > s.peak[p.PID] {
			s.peak[p.PID] = rss
		}
	}
}

// Stop ends the measurement and returns one summary per process name (processes of one
// name, such as PostgreSQL backends, are added up).
func (s *Sampler) Stop() []ProcessSummary {
	close(s.done)
	s.wg.Wait()
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	wall := time.Since(s.start).Seconds()
	byName := map[string]*ProcessSummary{}
	var names []string
	for pid, p := range s.procs {
		sum := byName[p.Name]
		if sum == nil {
			sum = &ProcessSummary{Name: p.Name, Group: p.Group}
			byName[p.Name] = sum
			names = append(names, p.Name)
		}
		if t := cpuTicks(pid, p.Group == GroupPostgres); t > 0 {
			sum.CPUCores += float64(t-s.cpu0[pid]) / clockTicks / wall
		}
		peak := float64(s.peak[pid]) / 1024
		_, hwm := memory(pid)
		if p.Group == GroupPostgres {
			sum.PeakRSSMiB += peak // every backend's own memory (shared buffers counted in each)
			continue
		}
		sum.PeakRSSMiB = max(sum.PeakRSSMiB, peak)
		sum.HWMMiB = max(sum.HWMMiB, float64(hwm)/1024)
	}
	slices.Sort(names)
	out := make([]ProcessSummary, 0, len(names))
	for _, n := range names {
		sum := byName[n]
		sum.CPUCores = round(max(sum.CPUCores, 0), 3)
		sum.PeakRSSMiB = round(sum.PeakRSSMiB, 1)
		sum.HWMMiB = round(sum.HWMMiB, 1)
		out = append(out, *sum)
	}
	return out
}

// cpuTicks is the CPU time (user + system) a process used, in clock ticks; withChildren
// adds its reaped children (a PostgreSQL server's exited backends).
func cpuTicks(pid int, withChildren bool) int64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name may contain spaces; the fields after it are fixed.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(raw[i+1:]))
	// f[0] is the state (field 3); utime, stime, cutime, cstime are fields 14 to 17.
	if len(f) < 15 {
		return 0
	}
	n := parse(f[11]) + parse(f[12])
	if withChildren {
		n += parse(f[13]) + parse(f[14])
	}
	return n
}

// memory returns a process's resident set and its high-water mark, in KiB.
func memory(pid int) (rss, hwm int64) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch name {
		case "VmRSS":
			rss = parse(strings.TrimSuffix(strings.TrimSpace(value), " kB"))
		case "VmHWM":
			hwm = parse(strings.TrimSuffix(strings.TrimSpace(value), " kB"))
		}
	}
	return rss, hwm
}

func parse(s string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n
}

// ProcessesNamed lists the running processes whose command name is comm (read-only:
// the bench measures the PostgreSQL and Redis servers it uses, it never signals them).
func ProcessesNamed(comm, group string) []Process {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []Process
	for _, d := range dirs {
		raw, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil || strings.TrimSpace(string(raw)) != comm {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(d))
		if err == nil {
			out = append(out, Process{Name: group, Group: group, PID: pid})
		}
	}
	return out
}

// LoadAvg reads the 1, 5 and 15 minute load averages.
func LoadAvg() [3]float64 {
	var out [3]float64
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return out
	}
	f := strings.Fields(string(raw))
	for i := 0; i < 3 && i < len(f); i++ {
		out[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return out
}
