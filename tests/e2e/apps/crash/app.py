import sys
print("about to crash", flush=True)
sys.exit(3)
