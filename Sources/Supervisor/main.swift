import SupervisorCore

await SupervisorEntry.main()
