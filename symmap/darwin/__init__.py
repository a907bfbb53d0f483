"""macOS live-process support: Mach/libproc bindings and the walkers built on them.

Layering (each module one concept; only ``_mach`` touches ctypes/libSystem):

- ``consts``       kern_return_t values, flavors, SM_* codes, KernReturnError (pure)
- ``_mach``        ctypes structs (pack(4) where Apple uses it) + lazily loaded libSystem
- ``kernel``       the narrow ``Kernel``/``Task`` protocols and ``LibSystemKernel``
- ``region_walk``  mach_vm_region_recurse loop -> model.Region list (and the libproc fallback)
- ``memory``       reads with page-wise fallback across unreadable holes
- ``dyld_images``  dyld_all_image_infos reader over a generic ``read(addr, size)``
- ``images``       Mach-O headers read from target memory -> model.Image
- ``vm_tags``      vmmap's names for user_tag / share modes (pure data)

Importing this package never loads libSystem (tests run on Linux).
"""
