// Package workflows holds the order saga (OrderSaga) and its message contract: the task
// queues, the signals, the status query, the resolve-compensation update, the search
// attributes and the input and result documents. Everything here runs inside Temporal
// workflow code, so it must stay deterministic: no I/O, clocks or randomness except
// through the workflow package.
package workflows
