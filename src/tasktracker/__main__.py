from tasktracker.cli import main

raise SystemExit(main())
