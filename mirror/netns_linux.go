package mirror

import "github.com/wirebox/wirebox/internal/netns"

// inNetNS runs fn in the network namespace at path ("" runs it here).
var inNetNS = netns.Run
