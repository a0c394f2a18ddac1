import WorkerCore

// Before any task starts: Swift concurrency's jobs run on the NIO event loops, so an `await`
// on a channel or upstream future resumes on the thread that completed it.
WorkerEntry.installEventLoopExecutor()
await WorkerEntry.main()
