import time

print("allocating", flush=True)
hog = []
while True:
    hog.append(bytearray(16 * 1024 * 1024))
    time.sleep(0.01)
