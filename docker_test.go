package hexfield_test

import (
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestDockerfileBuilds builds the Dockerfile's images with podman (or
// buildah): hotspotd for every platform the file promises, and oracled
// for this machine's. Base images are never pulled by the test (CI hosts
// and this project's build machines may have no registry access): it
// skips, naming the images to load, when they are not in local storage.
// Where containers cannot be started the OCI way (no setrlimit in a
// container, as on this project's build machine), BUILDAH_ISOLATION=chroot
// lets RUN steps run.
func TestDockerfileBuilds(t *testing.T) {
	df := readFile(t, "Dockerfile")
	// The base images: the Dockerfile's defaults, or stand-ins named by
	// HEXFIELD_GO_IMAGE and HEXFIELD_RUNTIME_IMAGE (passed as build args).
	var bases, buildArgs []string
	for _, m := range regexp.MustCompile(`(?m)^ARG ((?:GO|RUNTIME)_IMAGE)=(\S+)`).FindAllStringSubmatch(df, -1) {
		img := m[2]
		if v := os.Getenv("HEXFIELD_" + m[1]); v != "" {
			img = v
			buildArgs = append(buildArgs, "--build-arg", m[1]+"="+v)
		}
		bases = append(bases, img)
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
				"(run `%s pull %s` where a registry is reachable, or name a stand-in in HEXFIELD_GO_IMAGE / "+
				"HEXFIELD_RUNTIME_IMAGE): the Dockerfile is not built", b, tool, tool, b)
		}
	}
	build := func(target, platform string) {
		start := time.Now()
		args := append([]string{"build", "--pull=never", "--target", target, "--platform", platform, "-t", "hexfield-test/" + target + ":" + strings.ReplaceAll(platform, "/", "-")}, buildArgs...)
		// Podman 4 and buildah 1.28 take BUILDPLATFORM to be the target
		// platform; say it is this machine's, so the builder stages use
		// the local base image and hotspotd is cross-compiled.
		args = append(args, "--build-arg", "BUILDPLATFORM=linux/"+runtime.GOARCH, ".")
		if tool == "buildah" {
			args[0] = "bud"
		}
		if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
		}
		took := time.Since(start).Round(time.Second)
		out, err := exec.Command(tool, "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", "hexfield-test/"+target+":"+strings.ReplaceAll(platform, "/", "-")).Output()
		if err != nil {
			t.Fatalf("inspect the %s image for %s: %v", target, platform, err)
		}
		if got := strings.TrimSpace(string(out)); !strings.HasPrefix(platform, got) {
			t.Fatalf("the %s image for %s is %s", target, platform, got)
		}
		t.Logf("built %s for %s in %v", target, platform, took)
	}
	for _, p := range []string{"linux/amd64", "linux/arm64", "linux/arm/v7"} {
		build("hotspotd", p)
	}
	build("oracled", "linux/amd64")
}
