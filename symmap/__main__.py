from symmap.cli import main

main()
