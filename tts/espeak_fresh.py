"""A private libespeak-ng whose global state is put back to "just loaded" before every text.

espeak-ng keeps its synthesis state in C globals that carry from one text to the next: the pitch-flutter
phase (a function static in ``wavegen.c``), the wave generator's cycle counter and resonator memories,
the echo buffer (the tail of the previous text), the command ring buffer's position, and, on the heap,
the klatt speech player and the sonic speed-up stream (measured, see BENCHMARKS.md: the same text
rendered six times in a row gives six different sample counts). A hand-picked reset list misses the heap
parts, so this module resets *everything*, the way a fresh process would see the library:

1. load a private copy of the shared library (``RTLD_LOCAL``), so no other user of espeak in this process
   shares its globals;
2. right after loading, snapshot its writable ``.data`` + ``.bss`` (located from the ELF section headers
   and the load address): every pointer is still NULL there, nothing has been allocated;
3. per text: ``espeak_Terminate`` (frees the phoneme data, translator, decoder, klatt player), copy the
   snapshot back, ``espeak_Initialize`` again.

Two things are kept across the reset on purpose, both found by measuring: espeak's voice list (a pure
function of the data folder; rebuilding it reads every voice file, 3 ms a text) and nothing else; and the
sonic stream, which ``espeak_Terminate`` never frees, is destroyed first (else 16 KB leak per fast text).
Both need the library's symbol table (the ``espeakng-loader`` build is not stripped); without it the reset
is still exact, only slower (voice list rebuilt) or leaky at rates >= 450 wpm.

Example::

    lib = FreshLibrary(path_of_libespeak_ng)
    lib.reset(lambda: lib.lib.espeak_Initialize(2, 0, data_path, 0x8000))   # before every text
"""

from __future__ import annotations

import ctypes
import os
import shutil
import struct
import tempfile
from typing import Callable, Optional

#: ELF constants (elf.h): the section header table and the symbol table.
_SHT_SYMTAB = 2
_ELF64_SYM_SIZE = 24


def elf_sections(image: bytes) -> dict[str, tuple[int, int]]:
    """``{section name: (virtual address, size)}`` of a 64-bit little-endian ELF file."""
    if image[:4] != b"\x7fELF" or image[4] != 2 or image[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    (shoff,) = struct.unpack_from("<Q", image, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", image, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", image, shoff + i * shentsize) for i in range(shnum)]
    names_at = headers[shstrndx][4]
    out = {}
    for name, _type, _flags, addr, _offset, size, *_ in headers:
        start = names_at + name
        out[image[start : image.index(b"\0", start)].decode()] = (addr, size)
    return out


def elf_symbols(image: bytes) -> dict[str, tuple[int, int]]:
    """``{symbol name: (value, size)}`` from ``.symtab`` (local statics included; empty when stripped)."""
    (shoff,) = struct.unpack_from("<Q", image, 0x28)
    shentsize, shnum, _ = struct.unpack_from("<HHH", image, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", image, shoff + i * shentsize) for i in range(shnum)]
    out = {}
    for _name, sh_type, _flags, _addr, offset, size, link, *_ in headers:
        if sh_type != _SHT_SYMTAB:
            continue
        strings_at = headers[link][4]
        for k in range(size // _ELF64_SYM_SIZE):
            st_name, _info, _other, _shndx, value, sym_size = struct.unpack_from("<IBBHQQ", image, offset + k * _ELF64_SYM_SIZE)
            if st_name:
                start = strings_at + st_name
                out[image[start : image.index(b"\0", start)].decode()] = (value, sym_size)
    return out


def load_address(path: str, maps: str) -> int:
    """Where ``path`` is mapped in a process, from the text of its ``/proc/<pid>/maps`` (the file-offset-0 mapping)."""
    real = os.path.realpath(path)
    for line in maps.splitlines():
        parts = line.split()
        if len(parts) >= 6 and int(parts[2], 16) == 0 and os.path.realpath(parts[5]) == real:
            return int(parts[0].split("-")[0], 16)
    raise RuntimeError(f"{path} is not mapped in this process")


class FreshLibrary:
    """A private copy of ``lib_path`` loaded with ``RTLD_LOCAL`` and reset to its just-loaded state on demand."""

    def __init__(self, lib_path: str):
        self._dir = tempfile.mkdtemp(prefix="duplexgen-espeak-")
        self.path = os.path.join(self._dir, os.path.basename(lib_path))
        shutil.copyfile(lib_path, self.path)
        try:
            self.lib = ctypes.CDLL(self.path, mode=os.RTLD_LOCAL)
        except OSError:  # e.g. a temp folder mounted noexec: share the installed library (still reset per text)
            shutil.rmtree(self._dir, ignore_errors=True)
            self.path = lib_path
            self.lib = ctypes.CDLL(self.path, mode=os.RTLD_LOCAL)
        with open(self.path, "rb") as f:
            image = f.read()
        with open("/proc/self/maps") as f:
            base = load_address(self.path, f.read())
        # Once mapped, the copy is no longer needed (and a crash must not leave copies behind).
        shutil.rmtree(self._dir, ignore_errors=True)
        sections = elf_sections(image)
        data, bss = sections[".data"], sections[".bss"]
        self.state_addr = base + data[0]
        self.state_size = bss[0] + bss[1] - data[0]
        self._pristine = ctypes.string_at(self.state_addr, self.state_size)
        symbols = elf_symbols(image)

        def var(name: str, size: Optional[int] = None) -> Optional[int]:
            value = symbols.get(name)
            return base + value[0] if value and value[1] and (size is None or value[1] == size) else None

        self._n_voices = var("n_voices_list", 4)
        self._voices = var("voices_list")
        self._voices_size = symbols.get("voices_list", (0, 0))[1]
        self._sonic = var("sonicSpeedupStream", 8)
        self.lib.sonicDestroyStream.argtypes = [ctypes.c_void_p]
        self.lib.espeak_Terminate.restype = ctypes.c_int
        self.initialized = False
        #: False when the symbol table is missing: every reset then rebuilds the voice list (slower, still exact)
        self.keeps_voice_list = self._n_voices is not None and self._voices is not None

    def reset(self, initialize: Callable[[], int]) -> int:
        """Free everything espeak allocated, restore the just-loaded globals, run ``initialize`` (which must
        call ``espeak_Initialize`` and set the callback); returns what ``initialize`` returned."""
        kept = None
        if self.initialized:
            if self._sonic is not None:
                stream = ctypes.c_void_p.from_address(self._sonic)
                if stream.value:  # not freed by espeak_Terminate
                    self.lib.sonicDestroyStream(stream.value)
                    stream.value = None
            if self.keeps_voice_list:
                n = ctypes.c_int.from_address(self._n_voices)
                if n.value > 0:  # keep the entries alive: espeak_Terminate frees n_voices_list of them
                    kept = (n.value, ctypes.string_at(self._voices, self._voices_size))
                    n.value = 0
            self.lib.espeak_Terminate()
        ctypes.memmove(self.state_addr, self._pristine, self.state_size)
        result = initialize()
        if kept is not None:
            ctypes.memmove(self._voices, kept[1], self._voices_size)
            ctypes.c_int.from_address(self._n_voices).value = kept[0]
        self.initialized = True
        return result


__all__ = ["FreshLibrary", "elf_sections", "elf_symbols", "load_address"]
