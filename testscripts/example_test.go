package testscripts_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/resp"
	"github.com/justredis/justredis/testscripts"
	"github.com/rogpeppe/go-internal/testscript"
)

// A project runs its own scripts with our commands: Params adds them, and
// the Setup that gives each script its servers, clients and cleanup.
func Example() {
	testScripts := func(t *testing.T) {
		testscript.Run(t, testscripts.Params(testscript.Params{
			Dir: "testdata/scripts",
			// Your own commands and Setup stay; ours are added.
			Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
				"my-app-start": func(ts *testscript.TestScript, neg bool, args []string) {
					// Start your application against $R_ADDR ...
				},
			},
		}))
	}
	_ = testScripts // func TestScripts(t *testing.T) { testScripts(t) }
}

// Without Params: call Setup from your own Setup and merge Cmds.
func ExampleSetup() {
	p := testscript.Params{
		Dir: "testdata/scripts",
		Setup: func(env *testscript.Env) error {
			if err := testscripts.Setup(env); err != nil {
				return err
			}
			env.Setenv("APP_MODE", "test")
			return nil
		},
		Cmds: testscripts.Cmds(),
	}
	fmt.Println(p.Cmds["rcmd"] != nil)
	fmt.Println(testscripts.Usage("rcmd"))
	// Output:
	// true
	// rcmd [CLIENT-FLAGS] CMD [ARG...]
}

// Replies print the way redis-cli prints them.
func ExampleRender() {
	v := resp.Array(
		resp.SimpleString("OK"),
		resp.Int(5),
		resp.Bulk("two\nlines"),
		resp.Null(),
		resp.Array(resp.Bulk("a"), resp.Bulk("b")),
		resp.ErrorValue("WRONGTYPE Operation against a key holding the wrong kind of value"),
	)
	fmt.Println(testscripts.Render(v))
	// Output:
	// 1) OK
	// 2) (integer) 5
	// 3) "two\nlines"
	// 4) (nil)
	// 5) 1) "a"
	//    2) "b"
	// 6) (error) WRONGTYPE Operation against a key holding the wrong kind of value
}

// Errors print with their class: did the server run the command?
func ExampleRenderError() {
	for _, err := range []error{
		resp.NewError("ERR unknown command 'FOO'"),
		&client.RequestError{Addr: "127.0.0.1:6379", Exec: client.NotSent, Attempts: 3, Err: client.ErrConnection},
		&client.RequestError{Addr: "127.0.0.1:6379", Exec: client.MaybeSent, Attempts: 1, Err: client.ErrSocketTimeout},
		errors.Join(client.ErrTxFailed),
	} {
		fmt.Println(testscripts.RenderError(err))
	}
	// Output:
	// (error) ERR unknown command 'FOO'
	// (not-executed) client: 127.0.0.1:6379: connection failed (not sent, 3 attempts)
	// (maybe-executed) client: 127.0.0.1:6379: socket timeout (maybe executed)
	// (not-executed) client: transaction failed: a watched key changed
}
