from multisc.cli import main

raise SystemExit(main())
