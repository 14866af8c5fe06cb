"""The AAC AudioSpecificConfig (ISO 14496-3 1.6.2.1): one sample-rate table, one `AacConfig`, parse and serialize."""
from dataclasses import dataclass, replace

from srsish.kernel.codec.bits import BitReader, BitWriter, CodecError

SAMPLE_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
EXPLICIT_RATE_INDEX = 15

OBJECT_MAIN = 1
OBJECT_LC = 2
OBJECT_SBR = 5      # HE-AAC
OBJECT_PS = 29      # HE-AAC v2
PROFILE_NAMES = {1: "Main", 2: "LC", 3: "SSR", 5: "HE", 29: "HEv2"}
# Object types whose config continues with a GASpecificConfig (frameLengthFlag first).
_GA_OBJECT_TYPES = frozenset((1, 2, 3, 4, 6, 7))


@dataclass(frozen=True)
class AacConfig:
    """An AudioSpecificConfig.

    `object_type` is the one signalled first (5 or 29 for HE-AAC); the rate fields then describe
    the AAC core and `extension_*` the SBR output rate. An index of 15 means the matching
    `*explicit_rate` holds the rate in Hz.
    """
    object_type: int
    rate_index: int
    channels: int
    frame_length: int = 1024          # samples per frame at `sample_rate` (960 with frameLengthFlag)
    explicit_rate: int = 0
    core_object_type: int = 0         # HE-AAC only: the object type SBR wraps, usually LC
    extension_rate_index: int = 0     # HE-AAC only
    extension_explicit_rate: int = 0

    @property
    def sample_rate(self) -> int:
        """The core's sampling rate (an HE-AAC decoder outputs twice that)."""
        return _rate(self.rate_index, self.explicit_rate)

    @property
    def is_he(self) -> bool:
        return self.object_type in (OBJECT_SBR, OBJECT_PS)

    @property
    def output_rate(self) -> int:
        return _rate(self.extension_rate_index, self.extension_explicit_rate) if self.is_he else self.sample_rate

    @property
    def sampling_index(self) -> int:
        """A table index for headers that cannot say an explicit rate (ADTS): the nearest one."""
        if self.rate_index < len(SAMPLE_RATES):
            return self.rate_index
        return min(range(len(SAMPLE_RATES)), key=lambda i: abs(SAMPLE_RATES[i] - self.explicit_rate))

    def core(self) -> "AacConfig":
        """The AAC core alone: HE-AAC without its SBR/PS extension (what ADTS signals, implicitly)."""
        if not self.is_he:
            return self
        return replace(self, object_type=self.core_object_type or OBJECT_LC, core_object_type=0,
                       extension_rate_index=0, extension_explicit_rate=0)

    def to_bytes(self) -> bytes:
        """The AudioSpecificConfig bytes; a GASpecificConfig says only the frame length."""
        w = BitWriter()
        _write_object_type(w, self.object_type)
        _write_rate(w, self.rate_index, self.explicit_rate)
        w.u(4, self.channels)
        ga_type = self.object_type
        if self.is_he:
            _write_rate(w, self.extension_rate_index, self.extension_explicit_rate)
            ga_type = self.core_object_type or OBJECT_LC
            _write_object_type(w, ga_type)
        if ga_type in _GA_OBJECT_TYPES:
            w.u(1, 1 if self.frame_length == 960 else 0)
            w.u(2, 0)                 # dependsOnCoreCoder, extensionFlag
        return w.to_bytes()


def parse_audio_specific_config(asc: bytes) -> AacConfig:
    """Parse an AudioSpecificConfig; raises CodecError when truncated or when it names no rate or object."""
    r = BitReader(asc)
    object_type = _read_object_type(r)
    rate_index, explicit = _read_rate(r)
    channels = r.u(4)
    core = ext_index = ext_explicit = 0
    ga_type = object_type
    if object_type in (OBJECT_SBR, OBJECT_PS):
        ext_index, ext_explicit = _read_rate(r) if r.bits_left >= 4 else (0, 0)
        # Configs cut short after the extension rate still say HE-AAC; their core is LC.
        core = _read_object_type(r) if r.bits_left >= 5 else OBJECT_LC
        ga_type = core
    if ga_type == 0 or _rate(rate_index, explicit) == 0:   # ga_type 0: no object, or HE-AAC wrapping none
        raise CodecError(f"AudioSpecificConfig with object type {object_type}/{core}, rate index {rate_index}")
    frame_length = 960 if ga_type in _GA_OBJECT_TYPES and r.bits_left and r.u(1) else 1024
    return AacConfig(object_type, rate_index, channels, frame_length, explicit, core, ext_index, ext_explicit)


def _rate(index: int, explicit: int) -> int:
    if index == EXPLICIT_RATE_INDEX:
        return explicit
    return SAMPLE_RATES[index] if index < len(SAMPLE_RATES) else 0


def _read_object_type(r: BitReader) -> int:
    object_type = r.u(5)
    return 32 + r.u(6) if object_type == 31 else object_type


def _write_object_type(w: BitWriter, object_type: int) -> None:
    if object_type >= 31:
        w.u(5, 31)
        w.u(6, object_type - 32)
    else:
        w.u(5, object_type)


def _read_rate(r: BitReader) -> tuple:
    index = r.u(4)
    return index, (r.u(24) if index == EXPLICIT_RATE_INDEX else 0)


def _write_rate(w: BitWriter, index: int, explicit: int) -> None:
    w.u(4, index)
    if index == EXPLICIT_RATE_INDEX:
        w.u(24, explicit)
