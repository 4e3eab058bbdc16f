//go:build unix

package localnet

import (
	"os/exec"
	"syscall"
)

// ownGroup starts the server in its own process group, so that a Ctrl-C
// at the terminal reaches only the Go program, which stops the server when
// it is done with it (a program printing a summary at Ctrl-C still reads
// the chain). The server exits at its stdin's EOF, so it never outlives
// its parent.
func ownGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }
