package hexfield_test

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDockerfileBuilds builds the Dockerfile's images with podman (or
// buildah): hotspotd for every platform the file promises, and oracled
// for this machine's. Base images are never pulled by the test (CI hosts
// and this project's build machines may have no registry access): it
// skips, naming the images to load, when they are not in local storage.
func TestDockerfileBuilds(t *testing.T) {
	df := readFile(t, "Dockerfile")
	var bases []string
	for _, m := range regexp.MustCompile(`(?m)^ARG (?:GO|RUNTIME)_IMAGE=(\S+)`).FindAllStringSubmatch(df, -1) {
		bases = append(bases, m[1])
	}
	if len(bases) != 2 {
		t.Fatalf("Dockerfile: want the GO_IMAGE and RUNTIME_IMAGE args, found %v", bases)
	}
	for _, target := range []string{"AS hotspotd", "AS oracled"} {
		if !strings.Contains(df, target+"\n") {
			t.Fatalf("Dockerfile has no stage %q", target)
		}
	}
	tool := ""
	for _, c := range []string{"podman", "buildah"} {
		if _, err := exec.LookPath(c); err == nil {
			tool = c
			break
		}
	}
	if tool == "" {
		t.Skip("neither podman nor buildah is installed (apt-get install -y podman): the Dockerfile is not built")
	}
	for _, b := range bases {
		if err := exec.Command(tool, "image", "exists", b).Run(); err != nil {
			t.Skipf("base image %s is not in %s's local storage and the test does not pull it "+
				"(run `%s pull %s`, or load it, where a registry is reachable): the Dockerfile is not built", b, tool, tool, b)
		}
	}
	build := func(target, platform string) {
		start := time.Now()
		args := []string{"build", "--pull=never", "--target", target, "--platform", platform, "-t", "hexfield-test/" + target, "."}
		if tool == "buildah" {
			args[0] = "bud"
		}
		if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
		}
		t.Logf("built %s for %s in %v", target, platform, time.Since(start).Round(time.Second))
	}
	for _, p := range []string{"linux/amd64", "linux/arm64", "linux/arm/v7"} {
		build("hotspotd", p)
	}
	build("oracled", "linux/amd64")
}
