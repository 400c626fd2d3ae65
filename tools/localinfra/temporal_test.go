package localinfra

import (
	"slices"
	"testing"
)

func TestTemporalArgs(t *testing.T) {
	base := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", "7233", "--log-level", "warn"}
	for _, tt := range []struct {
		name string
		cfg  TemporalConfig
		want []string
	}{
		{name: "headless, in memory", want: append(slices.Clone(base), "--headless")},
		{
			name: "UI and a state file with its pragmas",
			cfg:  TemporalConfig{UIPort: 8233, DBFile: "/s/temporal.db"},
			want: append(slices.Clone(base), "--ui-port", "8233", "--db-filename", "/s/temporal.db",
				"--sqlite-pragma", "journal_mode=WAL", "--sqlite-pragma", "synchronous=NORMAL"),
		},
		{
			name: "the default namespace is not created again",
			cfg:  TemporalConfig{Namespace: "default"},
			want: append(slices.Clone(base), "--headless"),
		},
		{
			name: "namespace, attributes and dynamic config in name order",
			cfg: TemporalConfig{
				Namespace:        "ns",
				SearchAttributes: map[string]string{"B": "Keyword", "A": "Bool"},
				DynamicConfig:    map[string]string{"y.z": "1", "x.y": "false"},
			},
			want: append(slices.Clone(base), "--headless", "--namespace", "ns",
				"--search-attribute", "A=Bool", "--search-attribute", "B=Keyword",
				"--dynamic-config-value", "x.y=false", "--dynamic-config-value", "y.z=1"),
		},
	} {
		cfg := tt.cfg
		cfg.IP, cfg.Port = "127.0.0.1", 7233
		if got := temporalArgs(cfg); !slices.Equal(got, tt.want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}
