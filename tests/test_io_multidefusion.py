import numpy as np
import pytest

from insarfusion.errors import InputError
from insarfusion.io import read_points
from insarfusion.io._guess import guess_format
from insarfusion.io.multidefusion import read_multidefusion


@pytest.fixture
def pi16(real_data):
    return real_data / "multidefusion_trial_poland" / "PI16"


def test_psi_known_answers(pi16):
    ds = read_points(pi16 / "PSI_10_375f.txt")
    assert ds.sizes == {"point": 1, "time": 56}
    assert str(ds.time.values[0])[:10] == "2018-07-02"
    assert ds.displacement.values[0, 0] == 0.0
    assert ds.displacement.values[0, 1] == pytest.approx(-5.9)
    assert ds.displacement.values[0, -1] == pytest.approx(-67.8, abs=0.05)
    assert ds.incidence.values[0] == pytest.approx(np.rad2deg(0.767281646))
    # the file says 191 degrees (3.334 rad); kept, wrapped
    assert ds.heading.values[0] == pytest.approx(np.rad2deg(3.334015204) - 360, abs=1e-6)
    # placed at the GNSS station beside it
    assert ds.lat.values[0] == pytest.approx(50.0664, abs=1e-3)
    assert ds.lon.values[0] == pytest.approx(18.4749, abs=1e-3)
    assert ds.attrs["technique"] == "PSI"


def test_sbas_and_dinsar_chain(pi16):
    sbas = read_points(pi16 / "SBAS_53_main.txt")
    assert sbas.sizes["time"] == 64
    assert sbas.displacement.values[0, -1] == pytest.approx(-63.9, abs=0.05)
    din = read_points(pi16 / "DInSAR_10_main.txt")
    assert din.sizes["time"] == 115  # 114 consecutive pairs
    assert din.displacement.values[0, 1] == pytest.approx(2.7)
    assert din.displacement.values[0, 2] == pytest.approx(2.7 + 1.3)
    assert np.all(np.diff(din.displacement_error.values[0]) >= 0)
    assert din.attrs["file_kind"] == "DInSAR"


def test_format_is_guessed(pi16):
    assert guess_format(pi16 / "PSI_53_968e.txt") == ("points", "multidefusion")
    assert guess_format(pi16 / "DInSAR_121_2.txt") == ("points", "multidefusion")
    assert guess_format(pi16 / "GNSS.txt") == ("gnss", "ecef")


def test_position_needed(tmp_path):
    p = tmp_path / "PSI_1_x.txt"
    p.write_text("YYYY\tMM\tDD\tDSP\tINC_ANG\tHEAD_ANG\tERROR\r\n2018\t7\t2\t0\t0.7\t-0.2\t0.005\r\n"
                 "2018\t7\t14\t-0.001\t0.7\t-0.2\t0.005\t\t\r\n")
    with pytest.raises(InputError, match="no position"):
        read_multidefusion(p)
    ds = read_multidefusion(p, lon=18.0, lat=50.0)
    assert ds.displacement.values[0].tolist() == pytest.approx([0.0, -1.0])
    assert ds.incidence.values[0] == pytest.approx(np.rad2deg(0.7))


@pytest.mark.parametrize("text, where", [
    ("YYYY\tMM\tDD\tDSP\tINC_ANG\tHEAD_ANG\tERROR\n2018\t7\t2\tx\t0.7\t-0.2\t0.005\n",
     "row 2, column 'DSP'"),
    ("YYYY\tMM\tDD\tDSP\tINC_ANG\tERROR\n2018\t7\t2\t0\t0.7\t0.005\n", "HEAD_ANG"),
    ("YYYY\tMM\tDD\tDSP\tINC_ANG\tHEAD_ANG\tERROR\n2018\t13\t2\t0\t0.7\t-0.2\t0.005\n",
     "bad date"),
])
def test_bad_files(tmp_path, text, where):
    p = tmp_path / "PSI_1_x.txt"
    p.write_text(text)
    with pytest.raises(InputError) as info:
        read_multidefusion(p, lon=18.0, lat=50.0)
    msg = str(info.value)
    assert str(p) in msg and where in msg and "\n" not in msg
