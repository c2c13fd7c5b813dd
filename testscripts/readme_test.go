package testscripts_test

import (
	"os"
	"strings"
	"testing"

	"github.com/justredis/justredis/testscripts"
)

// TestReadmeReference checks that the README's reference has every
// command's usage line, as Usage returns it (| escaped in tables), and
// lists every scenario of the suite.
func TestReadmeReference(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	for _, name := range testscripts.Names() {
		for _, form := range strings.Split(testscripts.Usage(name), " | ") {
			want := "`" + strings.ReplaceAll(form, "|", `\|`) + "`"
			if !strings.Contains(readme, want) {
				t.Errorf("README.md lacks %s", want)
			}
		}
	}
	scenarios, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range scenarios {
		if name, ok := strings.CutSuffix(e.Name(), ".txtar"); ok && !strings.Contains(readme, "`"+name+"`") {
			t.Errorf("README.md does not list the scenario %s", name)
		}
	}
}
