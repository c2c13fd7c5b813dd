package control_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/justredis/justredis/faultinject/control"
)

// The control API over real HTTP, as a non-Go test would use it (with curl,
// say). The upstream here is a closed port: the example only shows the API.
func Example() {
	h := control.NewHandler()
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

	send := func(method, path, body string) {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			panic(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		fmt.Println(resp.Status)
		if strings.Contains(path, "toxics") && len(b) > 0 {
			fmt.Print(string(b))
		}
	}

	send("POST", "/proxies", `{"name": "redis", "upstream": "127.0.0.1:1"}`)
	send("POST", "/proxies/redis/toxics",
		`{"name": "slow", "type": "latency", "direction": "downstream", "attributes": {"delay": "100ms"}}`)
	send("PATCH", "/proxies/redis/toxics/slow", `{"attributes": {"jitter": 10}, "toxicity": 0.5}`)
	send("PATCH", "/proxies/redis", `{"refuse": true}`)
	send("POST", "/proxies/redis/cut", `{"reset": true}`)
	send("DELETE", "/proxies/redis/toxics/slow", "")
	send("DELETE", "/proxies/redis", "")
	// Output:
	// 201 Created
	// 201 Created
	// {
	//   "name": "slow",
	//   "type": "latency",
	//   "direction": "downstream",
	//   "toxicity": 1,
	//   "attributes": {
	//     "delay": "100ms",
	//     "jitter": "0s"
	//   }
	// }
	// 200 OK
	// {
	//   "name": "slow",
	//   "type": "latency",
	//   "direction": "downstream",
	//   "toxicity": 0.5,
	//   "attributes": {
	//     "delay": "100ms",
	//     "jitter": "10ms"
	//   }
	// }
	// 200 OK
	// 204 No Content
	// 204 No Content
	// 204 No Content
}
