from symmap.entry import main

main()
