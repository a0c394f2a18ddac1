print("jbai-loadgen: not written yet")
