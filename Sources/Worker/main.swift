import WorkerCore

await WorkerEntry.main()
