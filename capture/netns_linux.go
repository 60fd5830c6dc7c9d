package capture

import "github.com/wirebox/wirebox/internal/nsrun"

// inNetNS runs fn in the network namespace at path ("" runs it here), on a
// goroutine locked to a thread that exits afterwards, so no other code ever
// runs in the namespace by accident. Sockets made in fn keep the namespace.
var inNetNS = nsrun.Run
