module github.com/wirebox/wirebox

go 1.25.0
