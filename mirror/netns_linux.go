package mirror

import "github.com/wirebox/wirebox/internal/nsrun"

// inNetNS runs fn in the network namespace at path ("" runs it here).
var inNetNS = nsrun.Run
