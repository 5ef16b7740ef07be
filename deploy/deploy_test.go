// Package deploy_test checks the deployment artefacts users run: the
// Compose file and the Kubernetes manifests parse, and they wire the node
// the way the grove binary expects.
package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/grovedev/grove/agent"
	"github.com/grovedev/grove/discovery"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// checkArgs parses node flags the way `grove node` does and validates them.
func checkArgs(t *testing.T, args []string, env map[string]string) agent.Config {
	t.Helper()
	var cfg agent.Config
	fs := pflag.NewFlagSet("node", pflag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("flags %q: %v", args, err)
	}
	if err := agent.LoadEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Resolve(func() (string, error) { return "host-1", nil }, func(string) ([]string, error) { return []string{"10.0.0.9"}, nil }); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the node would refuse this configuration: %v", err)
	}
	return cfg
}

func TestCompose(t *testing.T) {
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Environment map[string]string `yaml:"environment"`
			Expose      []string          `yaml:"expose"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	svc, ok := doc.Services["grove"]
	if !ok || svc.Image == "" {
		t.Fatalf("no grove service with an image: %+v", doc)
	}
	env := svc.Environment
	env["GROVE_COOKIE"] = "test"
	if tok := env["GROVE_ADMIN_TOKEN"]; !strings.HasPrefix(tok, "${GROVE_ADMIN_TOKEN:?") {
		t.Fatalf("the admin token is not required from the environment: %q", tok)
	}
	cfg := checkArgs(t, nil, env)
	if cfg.Name != "grove@host-1" || cfg.Advertise != "10.0.0.9:4370" {
		t.Fatalf("resolved %+v", cfg)
	}
	spec, err := discovery.ParseSpec(cfg.Discovery)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cfg.Discovery, "grove") {
		t.Fatalf("discovery %q does not use the service name (%+v)", cfg.Discovery, spec)
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		cmd := exec.Command("docker-compose", "-f", "compose.yaml", "config", "-q")
		cmd.Env = append(os.Environ(), "GROVE_COOKIE=test", "GROVE_ADMIN_TOKEN=test")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker-compose config: %v\n%s", err, out)
		}
	}
}

func TestKubernetes(t *testing.T) {
	b, err := os.ReadFile("kubernetes/grove.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type probe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	}
	type object struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec struct {
			ClusterIP   string `yaml:"clusterIP"`
			ServiceName string `yaml:"serviceName"`
			Template    struct {
				Spec struct {
					Containers []struct {
						Args []string `yaml:"args"`
						Env  []struct {
							Name      string `yaml:"name"`
							Value     string `yaml:"value"`
							ValueFrom struct {
								SecretKeyRef struct {
									Name string `yaml:"name"`
								} `yaml:"secretKeyRef"`
							} `yaml:"valueFrom"`
						} `yaml:"env"`
						Ports []struct {
							Name          string `yaml:"name"`
							ContainerPort int    `yaml:"containerPort"`
						} `yaml:"ports"`
						LivenessProbe  probe `yaml:"livenessProbe"`
						ReadinessProbe probe `yaml:"readinessProbe"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	objs := map[string]object{}
	for {
		var o object
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		objs[o.Kind] = o
	}
	svc, sts := objs["Service"], objs["StatefulSet"]
	if svc.Spec.ClusterIP != "None" {
		t.Fatalf("the Service is not headless: %+v", svc)
	}
	if sts.Spec.ServiceName != svc.Metadata.Name || len(sts.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("StatefulSet %+v does not use Service %s", sts, svc.Metadata.Name)
	}
	c := sts.Spec.Template.Spec.Containers[0]
	// Kubernetes expands $(VAR) in args from the container's environment.
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = strings.NewReplacer("$(POD_NAME)", "grove-0", "$(POD_IP)", "10.0.0.9").Replace(a)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom.SecretKeyRef.Name != "" {
			env[e.Name] = "from-secret-" + e.ValueFrom.SecretKeyRef.Name
		} else if e.Value != "" {
			env[e.Name] = e.Value
		}
	}
	for _, secret := range []string{"GROVE_COOKIE", "GROVE_ADMIN_TOKEN"} {
		if !strings.HasPrefix(env[secret], "from-secret-") {
			t.Fatalf("%s does not come from a Secret: %q", secret, env[secret])
		}
	}
	cfg := checkArgs(t, args, env)
	if cfg.Admin != "" && !strings.HasPrefix(cfg.Admin, "127.") && cfg.AdminAuth.Token == "" {
		t.Fatalf("the admin API on %s has no token", cfg.Admin)
	}
	if !strings.Contains(cfg.Discovery, svc.Metadata.Name) {
		t.Fatalf("discovery %q does not use the headless Service %q", cfg.Discovery, svc.Metadata.Name)
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Fatalf("probes %+v %+v", c.LivenessProbe, c.ReadinessProbe)
	}
	adminPort := ""
	for _, p := range c.Ports {
		if p.Name == c.LivenessProbe.HTTPGet.Port {
			adminPort = strings.TrimPrefix(cfg.Admin, "0.0.0.0:")
			if adminPort != strconv.Itoa(p.ContainerPort) {
				t.Fatalf("probes hit port %d, the admin API listens on %s", p.ContainerPort, cfg.Admin)
			}
		}
	}
	if adminPort == "" {
		t.Fatalf("probe port %q is not a container port", c.LivenessProbe.HTTPGet.Port)
	}
}

// TestDockerfile: the image's default command puts the admin API on all
// interfaces, so the node refuses to start it without a token, and starts
// with one from the environment.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var entry, cmd []string
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "ENTRYPOINT "); ok {
			if err := json.Unmarshal([]byte(v), &entry); err != nil {
				t.Fatal(err)
			}
		}
		if v, ok := strings.CutPrefix(line, "CMD "); ok {
			if err := json.Unmarshal([]byte(v), &cmd); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(entry) != 2 || entry[1] != "node" {
		t.Fatalf("entrypoint %q", entry)
	}
	parse := func(env map[string]string) error {
		var cfg agent.Config
		fs := pflag.NewFlagSet("node", pflag.ContinueOnError)
		cfg.RegisterFlags(fs)
		if err := fs.Parse(cmd); err != nil {
			return err
		}
		if err := agent.LoadEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
			return err
		}
		return cfg.Validate()
	}
	env := map[string]string{"GROVE_NAME": "grove@h", "GROVE_COOKIE": "c"}
	if err := parse(env); err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("the image starts an unauthenticated admin API on all interfaces: %v", err)
	}
	env["GROVE_ADMIN_TOKEN"] = "t"
	if err := parse(env); err != nil {
		t.Fatal(err)
	}
}
