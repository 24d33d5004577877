"""py-spy's recursive case: the main thread recurses to depth 20 and back,
over and over, until killed. Any stack it really has is <module> at the
loop, then up to 21 frames of recurse() (22 at most), each but the
innermost at its call.
"""


def recurse(x):
    if x == 0:
        return  # @leaf
    recurse(x - 1)  # @call


print("READY", flush=True)
while True:  # @while
    recurse(20)  # @loop
