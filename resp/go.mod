module github.com/justredis/justredis/resp

go 1.25.0
