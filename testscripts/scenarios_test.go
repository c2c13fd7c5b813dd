package testscripts_test

import (
	"testing"

	"github.com/justredis/justredis/testscripts"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestScenarios runs the end-to-end scenario suite, testdata/*.txtar.
func TestScenarios(t *testing.T) {
	testscript.Run(t, testscripts.Params(testscript.Params{
		Dir:                "testdata",
		RequireUniqueNames: true,
	}))
}
