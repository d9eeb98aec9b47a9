from agentcal.cli import main

main()
